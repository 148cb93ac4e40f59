import sys, numpy as np
from PIL import Image
from pathlib import Path
sys.path.insert(0,str(__import__('pathlib').Path(__file__).resolve().parent)); from sclera import sess, run_mesh, EYES
def lin(a): a=a/255.0; return np.where(a<=0.04045,a/12.92,((a+0.055)/1.055)**2.4)
REG={'now':(0.01,0.08,0.0,0.15),'ear':(0.02,0.10,-0.10,0.18),'ear2':(0.01,0.09,-0.12,0.12)}
def share(L,m,fw,ux,uy,k,reg,sy,srg,bgmask):
    x0,x1,y0,y1=reg; o=m[234 if k==0 else 454,:2]; sgn=-1 if k==0 else 1
    H,W=L.shape[:2]; vals=[]; n=0; person=0
    for v in np.arange(y0,y1,1/fw):
        for u in np.arange(x0,x1,1/fw):
            p=o+sgn*u*fw*ux+v*fw*uy; xi,yi=int(round(p[0])),int(round(p[1]))
            if not(0<=xi<W and 0<=yi<H): continue
            n+=1
            if bgmask[yi,xi]: continue
            person+=1
            c=L[yi,xi]; y=c@[0.2127,0.7152,0.0722]; st=np.log2(max(y,1e-5)/sy); rg=c[:2]/max(c.sum(),1e-6)
            vals.append((st,np.linalg.norm(rg-srg)))
    if n==0: return 0,0
    v=np.array(vals) if vals else np.zeros((0,2))
    vis=((v[:,0]>=-2)&(v[:,0]<=1)&(v[:,1]<=0.08)).sum() if len(v) else 0
    return vis/n, person/n
files=sorted(Path('/tmp/calib_bias/photos/navy').glob('*.jpg'))
res={r:[] for r in REG}
for f in files:
    img=np.asarray(Image.open(f).convert('RGB')).astype(float)
    m=run_mesh(sess,img.astype(np.uint8),(179,260),330)
    m=run_mesh(sess,img.astype(np.uint8),tuple(m[:,:2].mean(0)),1.7*np.linalg.norm(m[234,:2]-m[454,:2]))
    fw=np.linalg.norm(m[234,:2]-m[454,:2])
    eyes=[m[e][:,:2].mean(0) for e in EYES]; iod=np.linalg.norm(eyes[1]-eyes[0]); ux=(eyes[1]-eyes[0])/iod; uy=np.array([-ux[1],ux[0]])
    L=lin(img); bg=(img.min(2)>=235)
    line=f.name[:3]
    for r,reg in REG.items():
        sh=[]
        for k in range(2):
            cc=eyes[k]+0.7*iod*uy; rr=0.1*iod
            ch=L[int(cc[1]-rr):int(cc[1]+rr),int(cc[0]-rr):int(cc[0]+rr)].reshape(-1,3).mean(0)
            sh.append(share(L,m,fw,ux,uy,k,reg,ch@[0.2127,0.7152,0.0722],ch[:2]/ch.sum(),bg))
        best=max(s[0] for s in sh); pmin=min(s[1] for s in sh)
        res[r].append(best)
        line+=f"  {r}: {best:.2f}/{pmin:.2f}{'*' if best<0.05 and pmin>=0.5 else ' '}"
    print(line, flush=True)
