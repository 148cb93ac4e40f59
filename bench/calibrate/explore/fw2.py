import sys, numpy as np
from PIL import Image
from pathlib import Path
from scipy import ndimage as ndi
sys.path.insert(0,str(__import__('pathlib').Path(__file__).resolve().parent)); from sclera import sess, run_mesh, C, EYES
def tem(p):
    t=C.read_tem(p); return np.asarray(t[0] if isinstance(t,tuple) else t)
R=int(sys.argv[1]) if len(sys.argv)>1 else 10
E=[];Ef=[];names=[]
for src in sorted(Path('/work/shared/calibration/london').glob('*_03.jpg')):
    pts=tem(src.with_suffix('.tem'))
    wt=np.linalg.norm(pts[110]-pts[113]); k=207.0/wt
    im=Image.open(src).convert('RGB'); im=im.resize((round(im.width*k),round(im.height*k)),Image.LANCZOS)
    img=np.asarray(im).astype(float); P=pts*k
    eye=(P[0]+P[1])/2; chin=P[129]; reach=np.linalg.norm(chin-eye)
    m=run_mesh(sess,img.astype(np.uint8),(eye+chin)/2,2.3*reach)
    le=m[EYES[0]][:,:2].mean(0); re=m[EYES[1]][:,:2].mean(0); ux=(re-le)/np.linalg.norm(re-le); uy=np.array([-ux[1],ux[0]])
    Y=ndi.gaussian_filter(img@[0.299,0.587,0.114],1.0)
    ref=[]
    for i,sgn in ((234,-1),(454,1)):
        o=m[i,:2]; prof=[]
        ts=np.arange(-R,R+1)
        for t in ts:
            vals=[]
            for v in range(-6,7):
                p=o+sgn*t*ux+v*uy; vals.append(ndi.map_coordinates(Y,[[p[1]],[p[0]]],order=1)[0])
            prof.append(np.mean(vals))
        prof=np.array(prof); g=np.diff(prof)  # along outward
        j=np.argmax(np.abs(g)); ref.append(o+sgn*(ts[j]+0.5)*ux)
    w0=np.linalg.norm(m[234,:2]-m[454,:2]); w1=np.linalg.norm(ref[0]-ref[1])
    E.append(w0-207); Ef.append(w1-207); names.append(src.name[:3])
E=np.array(E);Ef=np.array(Ef)
print(f"mesh mean {E.mean():+.2f} sd {E.std():.2f} |e|<=3: {(abs(E)<=3).sum()}  | refined mean {Ef.mean():+.2f} sd {Ef.std():.2f} |e|<=3: {(abs(Ef)<=3).sum()} within3 of mean {(abs(Ef-Ef.mean())<=3).sum()}")
print([ (n,round(a,1),round(b,1)) for n,a,b in zip(names,E,Ef)])
