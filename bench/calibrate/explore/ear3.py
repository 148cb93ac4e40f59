import sys, numpy as np
from PIL import Image
from pathlib import Path
sys.path.insert(0,str(__import__('pathlib').Path(__file__).resolve().parent)); from sclera import sess, run_mesh, EYES
def lin(a): a=a/255.0; return np.where(a<=0.04045,a/12.92,((a+0.055)/1.055)**2.4)
W=np.array([1/3,1/3])
def rules(box, sy, srg):
    y=box@[0.2127,0.7152,0.0722]; st=np.log2(np.maximum(y,1e-5)/sy); rg=box[:,:2]/np.maximum(box.sum(1,keepdims=True),1e-6)
    old=((st>=-2)&(st<=1)&(np.linalg.norm(rg-srg,axis=1)<=0.08)).mean()
    d=srg-W; n=np.linalg.norm(d); u=d/n
    rel=rg-W; along=(rel@u)/n; perp=np.abs(rel@np.array([-u[1],u[0]]))
    new=((st>=-3)&(st<=1)&(along>=0.7)&(along<=2.0)&(perp<=0.035)).mean()
    return old,new
files=sys.argv[1:] or sorted(str(p) for p in Path('/tmp/calib_bias/photos/navy').glob('*.jpg'))
for f in files:
    img=np.asarray(Image.open(f).convert('RGB')).astype(float)
    m=run_mesh(sess,img.astype(np.uint8),(img.shape[1]/2,img.shape[0]*0.58),img.shape[0]*0.75)
    m=run_mesh(sess,img.astype(np.uint8),tuple(m[:,:2].mean(0)),1.7*np.linalg.norm(m[234,:2]-m[454,:2]))
    fw=np.linalg.norm(m[234,:2]-m[454,:2])
    eyes=[m[e][:,:2].mean(0) for e in EYES]; iod=np.linalg.norm(eyes[1]-eyes[0])
    L=lin(img); res=[]
    for k,(i,u0,u1) in enumerate([(234,-0.08,-0.01),(454,0.01,0.08)]):
        e=eyes[k]; cc=e+[0,0.7*iod]; r=0.1*iod
        ch=L[int(cc[1]-r):int(cc[1]+r),int(cc[0]-r):int(cc[0]+r)].reshape(-1,3).mean(0)
        sy=ch@[0.2127,0.7152,0.0722]; srg=ch[:2]/ch.sum()
        c=m[i,:2]
        box=L[int(c[1]):int(c[1]+0.15*fw),int(max(c[0]+u0*fw,0)):int(c[0]+u1*fw)].reshape(-1,3)
        res.append(rules(box,sy,srg))
    o=max(r[0] for r in res); n=max(r[1] for r in res)
    flag=lambda v:'COVER' if v<0.05 else ''
    print(Path(f).name[:40], f"old {o:.2f} {flag(o):5s} new {n:.2f} {flag(n)}")
